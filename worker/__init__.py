"""ember.worker: one worker process.

Its endpoint to the driver, the executor that runs tasks, the block manager
(cached partitions), the shuffle service that serves map output to peers, and
the lifeline that ends the process when its driver goes away. Started by
module name: ``python -m ember.worker``. Imports ember.engine only.
"""
