"""`lit-vision sweep`: run a wandb sweep file locally, with optuna as the search engine and no wandb server.

The same file serves `wandb sweep` + `wandb agent` and this runner. One module per job:
`spec` (the sweep file and the trial command), `search` (optuna sampler, pruner, journal-file study),
`trial` (an in-process `lit-vision fit`), `ranks` (one trial shared by all DDP ranks), `runner` (the loop, resume,
heartbeat), `results` (the table), `command` (the argparse front end, `lit-vision sweep --help`).
"""
