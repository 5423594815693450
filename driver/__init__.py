"""ember.driver: the user's process.

``Context`` (alias ``SparkContext``), master URL parsing, ``Conf`` (one
declared table of settings), and spawning the local cluster. Imports
ember.engine, ember.scheduler and ember.ingest.
"""
