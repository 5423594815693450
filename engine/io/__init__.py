"""ember.engine.io: files in and out.

Text, binary, pickle and Hadoop-named files (input splits, readers and
committed part files), the Context's other input methods, files shipped
with ``addFile``, checkpoint files, and the crash-safe write every persisted
file goes through.
"""
