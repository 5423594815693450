"""Entry point of a worker process: ``python -m ember.worker``."""

from ember.worker.process import main

main()
