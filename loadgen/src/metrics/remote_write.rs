//! Prometheus remote write 1.0 (protobuf + snappy): the wire types, the
//! encoding of an [`super::Exposition`], and the sender.
