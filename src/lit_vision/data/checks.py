"""Argument checks shared by the DataModules: one-line errors that name the argument and the fix."""


def check_positive(**values: int | float) -> None:
    for name, value in values.items():
        if value is None or value <= 0:
            raise ValueError(f"data {name}={value} must be a positive number; pass e.g. --data.init_args.{name} 64")


def check_non_negative(**values: int | float) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"data {name}={value} must be >= 0 (0 turns it off); pass e.g. --data.init_args.{name} 0")
