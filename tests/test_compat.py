"""Each private attribute `lit_vision._compat` relies on still exists and does what it uses it for."""

from lit_vision._compat import mark_wandb_message_shown


def test_mark_wandb_message_shown_silences_that_warning(capsys, monkeypatch):
    from wandb.errors import term

    monkeypatch.setattr(term, "_silent", False)
    term.termwarn("lit-vision compat probe, unmarked", repeat=False)
    assert "lit-vision compat probe, unmarked" in capsys.readouterr().err  # wandb prints it ...
    mark_wandb_message_shown("lit-vision compat probe")
    term.termwarn("lit-vision compat probe", repeat=False)
    assert "lit-vision compat probe" not in capsys.readouterr().err  # ... unless marked as shown
