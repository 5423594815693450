"""ember.ingest.kafka: Kafka's wire protocol, both ways.

- The broker side: ``server`` (the Kafka listener: sockets, framing, TLS,
  SASL gate), ``apis`` (what each request does, over the same replica
  manager, log manager and group coordinator as ember's own protocol),
  ``codec`` (messages encoded and decoded from Kafka's vendored JSON
  schemas in ``schemas/``), ``errors`` (Kafka's error codes), ``sasl``
  (SCRAM and PLAIN, the users file), ``cli`` (``ember logstore users``
  and the ``serve`` options).
- The client side: ``client`` (RDDs over offset ranges of any Kafka
  cluster, read with confluent-kafka).

Imports ember.engine and the rest of ember.ingest only.
"""
