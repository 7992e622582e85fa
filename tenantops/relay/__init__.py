"""The session relay: signed webhooks in, session state in Redis as protobuf, context out."""
