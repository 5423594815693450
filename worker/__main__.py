"""Entry point of a worker process: ``python -m ember.worker`` (bootstrap on
stdin, from a local cluster) or ``python -m ember.worker --driver HOST:PORT
--secret-file F ...`` (started by hand, see ``process``)."""

from ember.worker.process import main

main()
