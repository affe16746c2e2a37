"""The cluster agent (``jobbergate agent run``): Slurm's side of job submissions.

- ``loop.py``: ``Agent`` and its cycle, the run loop, ``main_loop`` and its signal handlers, the heartbeat;
- ``submitting.py``: a pending submission becomes a Slurm job (claim, prepare, files, sbatch, report or reject);
- ``tracking.py``: a job's states reported until it ends; a cancelled submission's job cancelled; the sweep;
- ``base.py``: what those share (the agent's parts and memory, whose account a job runs as, reject, cancel);
- ``api.py``: every call to the server; ``identity.py``: the cluster's name and this process's claim name;
- ``settings.py``: the settings (flags, environment, file); ``mappers.py``: from an owner's e-mail to an account.
"""
