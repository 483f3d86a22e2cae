//! Binary codecs for the replicated log's payloads and the peer protocol.
