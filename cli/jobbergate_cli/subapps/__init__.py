"""Import paths of the upstream CLI that application workflows (jobbergate.py) use; they resolve to ours."""
