//! Kafka → typed messages. Knows the Thoth message catalogue and Kafka, nothing of Kubernetes.
