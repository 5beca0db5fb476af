"""The OTLP trace receiver: a program's own spans (HTTP/protobuf, HTTP/JSON, gRPC) → span batches."""
