//! The OpenAPI 3.1 document served at `/openapi.json`, generated from the handlers' annotations
//! (utoipa), so it cannot drift from the routes; schemathesis checks the server against it.

use super::{campaigns, compat, dnc, ops, recordings, v1};
use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Ringback", description = "Self-hosted SIP/RTP voice-agent media server: place AI phone calls over your own SIP trunk."),
    paths(
        v1::create_call, v1::list_calls, v1::get_call, v1::hangup, recordings::recording, recordings::mint_url, v1::events,
        v1::deliveries, v1::redeliver, v1::create_workflow, v1::get_workflow,
        dnc::add, dnc::remove, dnc::list, dnc::import,
        campaigns::create, campaigns::get, campaigns::recipients, campaigns::pause, campaigns::resume, campaigns::cancel,
        compat::call_prompt, compat::call_workflow, compat::poll_create, compat::poll_call, compat::poll_recording,
        ops::livez, ops::readyz, ops::healthz, ops::metrics, ops::openapi,
    ),
    components(schemas(crate::model::PromptCallback)),
    modifiers(&Security),
    tags(
        (name = "calls", description = "Native v1 calls"),
        (name = "webhooks", description = "Completion callbacks: delivery log and redelivery"),
        (name = "workflows", description = "Prompts compiled into workflows"),
        (name = "campaigns", description = "One prompt called to a list, within calling windows, with retries"),
        (name = "do-not-call", description = "Do-not-call lists, checked before every outbound call"),
        (name = "prompt-to-call", description = "Prompt-to-call compatible face"),
        (name = "fire-and-poll", description = "Fire-and-poll compatible face"),
        (name = "operations", description = "Health, metrics, this document"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
    }
}
