"""The `lit-vision` command: LightningCLI with architecture and data chosen in YAML (subclass mode)."""

import os
import sys

import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from lit_vision.callbacks.checkpoint import continue_last_version, install_fault_tolerance
from lit_vision.callbacks.progress_log import install_progress_log
from lit_vision.callbacks.save_config import RunConfigCallback
from lit_vision.cli_errors import LitVisionParser
from lit_vision.input_checks import check_command_line, check_log_directories, check_restorable
from lit_vision.loggers import finish_wandb, prepare_wandb_loggers, wandb_logger_configs
from lit_vision.preflight import SPECIAL_CKPT_PATHS, check_checkpoint, check_machine
from lit_vision.quiet import quiet_resume_warnings, quiet_third_party_logs, quiet_wandb
from lit_vision.runs import (
    EVALUATION_COMMANDS,
    add_default_prediction_writer,
    check_training_length,
    keep_metrics_rows,
    prepare_evaluation,
    quiet_fast_dev_run_checkpoints,
)
from lit_vision.short_names import expand_short_names

# DataModule attribute -> model init argument, linked once the DataModule exists. jsonargparse skips a link whose
# attribute the DataModule lacks or whose argument the chosen model lacks, so image and sequence pairs share the list.
DATA_TO_MODEL_LINKS = (
    "num_classes",
    "in_chans",
    "image_size",
    "src_vocab_size",
    "tgt_vocab_size",
    "pad_id",
    "bos_id",
    "eos_id",
)


class LitVisionCLI(LightningCLI):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("subclass_mode_model", True)
        kwargs.setdefault("subclass_mode_data", True)
        kwargs.setdefault("save_config_callback", RunConfigCallback)
        kwargs.setdefault("parser_kwargs", {"default_env": False})
        kwargs.setdefault("parser_class", LitVisionParser)
        kwargs.setdefault("auto_configure_optimizers", False)  # one way to set the optimizer: the model's arguments
        quiet_third_party_logs()
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            finish_wandb(exit_code=1)
            raise
        if kwargs.get("run", True):
            # the next run in this process (sweeps, tests) starts its own wandb run; this trainer's loggers resume theirs
            finish_wandb(loggers=self.trainer.loggers if hasattr(self, "trainer") else ())

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        check_machine(config.get("trainer") or {})  # devices, accelerator, precision vs this machine
        if self.subcommand == "fit":  # a checkpoint of a wandb run continues that run ("last": its newest)
            config["ckpt_path"] = prepare_wandb_loggers(config, ckpt_path=config.get("ckpt_path"))
        else:
            prepare_wandb_loggers(config)
        check_log_directories(config)
        if not (config.get("trainer") or {}).get("fast_dev_run"):  # fast_dev_run logs nothing: no logs/ either
            quiet_wandb(wandb_logger_configs(config))
        from lit_vision.interop.pretrained import fill_cli_normalization

        fill_cli_normalization(config)  # the data's mean / std follow `pretrained` weights unless the config sets them

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=True,
            help="After `fit`, run `test` with the best checkpoint when the DataModule has a test split.",
        )
        for name in DATA_TO_MODEL_LINKS:
            parser.link_arguments(f"data.{name}", f"model.init_args.{name}", apply_on="instantiate")

    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        super().parse_arguments(parser, args)
        # next, Lightning replaces the model's config by the checkpoint's hyper-parameters (class included): first
        # make sure the file is a readable Lightning checkpoint of the configured model class
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else None
        if subcommand in EVALUATION_COMMANDS:  # which weights (never random ones), logged beside their run
            prepare_evaluation(subcommand, config)
        ckpt_path = config.get("ckpt_path") if config is not None else None
        if ckpt_path and str(ckpt_path) not in SPECIAL_CKPT_PATHS and "://" not in str(ckpt_path):
            model_class_path = config.get("model.class_path") if "model" in config else None
            check_checkpoint(ckpt_path, weights_only=config.get("weights_only"), model_class_path=model_class_path)

    def instantiate_trainer(self, **kwargs):
        trainer = super().instantiate_trainer(**kwargs)
        install_fault_tolerance(trainer)  # atomic checkpoint writes, random-number state in checkpoints
        quiet_fast_dev_run_checkpoints(trainer)  # no ./checkpoints/last.ckpt from a fast_dev_run
        install_progress_log(trainer)  # plain progress lines when stdout is a file (SLURM logs, `> log`)
        return trainer

    def before_fit(self) -> None:
        check_training_length(self.trainer)
        if self.config_init[self.subcommand].get("ckpt_path"):
            quiet_resume_warnings()
        self._check_ckpt_path()

    def before_validate(self) -> None:
        self._check_ckpt_path()
        keep_metrics_rows(self.trainer)

    def before_test(self) -> None:
        self._check_ckpt_path()
        keep_metrics_rows(self.trainer)

    def before_predict(self) -> None:
        self._check_ckpt_path()
        keep_metrics_rows(self.trainer)
        add_default_prediction_writer(self.trainer, self.model)

    def _check_ckpt_path(self) -> None:
        """`--ckpt_path last` continues the previous run's directory; a file must be a checkpoint of this model."""
        config = self.config_init[self.subcommand]
        ckpt_path = config.get("ckpt_path")
        if ckpt_path == "last" and self.subcommand == "fit":
            ckpt_path = continue_last_version(self.trainer) or "last"
            config["ckpt_path"] = ckpt_path
        if ckpt_path and str(ckpt_path) not in SPECIAL_CKPT_PATHS and "://" not in str(ckpt_path):
            check_checkpoint(ckpt_path, self.model, weights_only=config.get("weights_only"))
            check_restorable(ckpt_path, self.subcommand)

    def after_fit(self) -> None:
        if not self.config.fit.get("test_after_fit", True) or self.trainer.fast_dev_run:
            return
        if not _has_test_split(self.datamodule) or self.trainer.interrupted:
            return
        checkpoint = self.trainer.checkpoint_callback
        ckpt_path = "best" if checkpoint is not None and getattr(checkpoint, "best_model_path", "") else None
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=ckpt_path)


def _has_test_split(datamodule) -> bool:
    from lightning.pytorch.utilities.model_helpers import is_overridden

    return datamodule is not None and is_overridden("test_dataloader", datamodule)


def one_line(error: BaseException) -> str:
    """The line of an error message that names the problem (jsonargparse wraps ours in a Union report)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    causes = [
        line[2:].strip(" \"'")
        for line in lines
        if line.startswith("- ") and "Expected a <class 'NoneType'>" not in line
    ]
    if lines[0].startswith("Does not validate against any of the Union subtypes") and causes:
        return causes[0]
    return lines[0]


def out_of_memory_line(error: BaseException) -> str | None:
    """A one-line hint for out-of-memory errors (torch.OutOfMemoryError on GPUs, RuntimeError on the CPU), else None."""
    text = str(error)
    if not isinstance(error, torch.OutOfMemoryError) and "can't allocate memory" not in text:
        return None
    sentences = one_line(error).split(". ")
    what = ". ".join(sentences[:2]).rstrip(".")
    return (
        f"out of memory ({what}); lower --data.init_args.batch_size (raise --trainer.accumulate_grad_batches to keep "
        "the effective batch), use --trainer.precision bf16-mixed, or a smaller model"
    )


def main(args: list[str] | None = None) -> None:
    """Entry point of `lit-vision`. Errors in user input end in one line; LIT_VISION_DEBUG=1 shows the traceback."""
    try:
        given = sys.argv[1:] if args is None else list(args)
        expanded = expand_short_names(given)  # `--model SwinClassifier` -> lit_vision.models.SwinClassifier
        check_command_line(expanded)  # YAML syntax, class paths, precision: file and line in one line
        LitVisionCLI(args=args if expanded == given else expanded)
    except (
        ValueError,
        FileNotFoundError,
        FloatingPointError,
        NotADirectoryError,
        MisconfigurationException,
        RuntimeError,  # only out-of-memory errors; others keep their traceback
    ) as error:
        line = out_of_memory_line(error) if isinstance(error, RuntimeError) else one_line(error)
        if line is None or os.environ.get("LIT_VISION_DEBUG"):
            raise
        print(f"lit-vision: error: {line}", file=sys.stderr)
        sys.exit(2)


def run(subcommand: str, argv: list[str]) -> None:
    """Run a LightningCLI subcommand; arguments typed on the command line reach LightningCLI as its own argv."""
    args = [subcommand, *argv]
    main(None if sys.argv[1:] == args else args)


def run_fit(argv: list[str]) -> None:
    run("fit", argv)


def run_validate(argv: list[str]) -> None:
    run("validate", argv)


def run_test(argv: list[str]) -> None:
    run("test", argv)


def run_predict(argv: list[str]) -> None:
    run("predict", argv)
