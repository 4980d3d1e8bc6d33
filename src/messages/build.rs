//! Building messages to publish: a [`Message`] made in code (the outbox's follow-up
//! messages, `thoth-operator publish`) and its wire form, the flat JSON object Thoth's
//! producers write. The inverse of [`super::parse()`]: `parse(topic, to_bytes(m)) == m`.

use serde_json::Value;

use super::catalogue::MessageBody;
use super::envelope::Envelope;
use super::parse::Message;
use super::topics::TopicPrefix;
use super::trigger_messages::JsonObject;

/// The `component_name` of the messages this operator writes itself (its follow-ups).
pub const OPERATOR_COMPONENT: &str = "thoth-operator";

impl Message {
    /// A message this operator publishes: component [`OPERATOR_COMPONENT`], service version
    /// the operator's own, the type's current schema version.
    pub fn from_operator(body: impl Into<MessageBody>) -> Self {
        Self::new(OPERATOR_COMPONENT, env!("CARGO_PKG_VERSION"), body)
    }

    /// A message to publish, in the type's current schema version.
    pub fn new(
        component_name: impl Into<String>,
        service_version: impl Into<String>,
        body: impl Into<MessageBody>,
    ) -> Self {
        let body = body.into();
        Self {
            envelope: Envelope::new(
                component_name,
                service_version,
                body.kind().current_version(),
            ),
            body,
            extra_fields: JsonObject::new(),
        }
    }

    /// The topic this message belongs on, for the given deployment.
    pub fn topic(&self, prefix: &TopicPrefix) -> String {
        prefix.topic_for(self.kind())
    }

    /// The message as Thoth's producers write it: one flat JSON object with
    /// the body's fields, the envelope and the extra fields.
    ///
    /// # Errors
    /// When a body field cannot be serialised (not possible for the catalogue's models,
    /// which hold strings, numbers and JSON values).
    pub fn to_json(&self) -> Result<Value, serde_json::Error> {
        let mut object = self.extra_fields.clone();
        if let Value::Object(body) = self.body.to_value()? {
            object.extend(body);
        }
        for (key, value) in [
            ("component_name", &self.envelope.component_name),
            ("service_version", &self.envelope.service_version),
            ("version", &self.envelope.version),
        ] {
            object.insert(key.into(), Value::String(value.clone()));
        }
        Ok(Value::Object(object))
    }

    /// The Kafka record value: UTF-8 JSON.
    ///
    /// # Errors
    /// As [`Message::to_json`].
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&self.to_json()?)
    }
}
