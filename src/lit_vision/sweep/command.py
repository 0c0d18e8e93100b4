"""`lit-vision sweep`: run a wandb sweep file locally."""

from lit_vision.sweep import main


def run(argv: list[str]) -> None:
    main(argv)
