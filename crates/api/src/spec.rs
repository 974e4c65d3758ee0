//! The OpenAPI document, completed with what every route answers by construction.
//!
//! The routes document their own answers; the answers that come from the shared machinery
//! rather than from a route are added here, to each operation they can come from, so the
//! document says everything the server answers: 400 for an unreadable body, query or id,
//! 401 without a session, 413/415/422 for bodies, 404 for ids, 503 when the database is
//! down. Problem documents are `application/problem+json`, ids and paging carry their
//! bounds, and every operation id is unique.

use std::collections::BTreeSet;

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response, Schema};

const PROBLEM: &str = "application/problem+json";

/// Path parameters that are ids (`{org}`, `{team}`, ...).
const ID_PARAMETERS: [&str; 6] = ["org", "team", "user", "invitation", "id", "deploymentId"];

fn problem(description: &str) -> RefOr<Response> {
    let mut response = Response::new(description);
    response.content.insert(PROBLEM.to_owned(), Content::new(Some(Ref::from_schema_name("Problem"))));
    RefOr::T(response)
}

fn bounded(minimum: f64, maximum: f64) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(minimum)).maximum(Some(maximum)).into()
}

/// Completes the document of the routes under `/api` and the probes (see the module).
pub fn complete(doc: &mut OpenApi) {
    let mut operation_ids = BTreeSet::new();
    for (path, item) in &mut doc.paths.paths {
        // The token endpoint answers as RFC 6749 says (form in, its own error shape), not as
        // the management API's machinery; its route documents every answer it gives.
        let management = path.starts_with("/api/") && path != "/api/v1/token";
        let operations =
            [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten();
        for operation in operations {
            if let Some(id) = &operation.operation_id {
                assert!(operation_ids.insert(id.clone()), "operation id {id} is used twice");
            }
            if management {
                complete_operation(operation);
            }
        }
    }
}

fn complete_operation(operation: &mut Operation) {
    let responses = &mut operation.responses.responses;
    // Errors leave as problem documents.
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(response) = response
            && status.as_str() >= "400"
            && let Some(content) = response.content.shift_remove("application/json")
        {
            response.content.insert(PROBLEM.to_owned(), content);
        }
    }
    let mut add = |status: &str, description: &str| {
        responses.entry(status.to_owned()).or_insert_with(|| problem(description));
    };
    let signed_in = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    if signed_in {
        add("401", "Not signed in, or the session has ended (`unauthenticated`)");
    }
    if operation.request_body.is_some() {
        add("400", "The body is not JSON (`malformed_json`) or could not be read");
        add("413", "The body is larger than the server takes (`payload_too_large`)");
        add("415", "The body is not sent as application/json (`unsupported_media_type`)");
        add(
            "422",
            "A field is missing, unknown, of the wrong type or breaks a rule (`validation_failed`); `errors` names each",
        );
    }
    let parameters = operation.parameters.iter_mut().flatten();
    let (mut in_query, mut in_path) = (false, false);
    for parameter in parameters {
        match parameter.parameter_in {
            ParameterIn::Query => {
                in_query = true;
                match parameter.name.as_str() {
                    "page" => parameter.schema = Some(bounded(1.0, 1_000_000.0)),
                    "limit" => parameter.schema = Some(bounded(1.0, 100.0)),
                    _ => {}
                }
            }
            ParameterIn::Path => {
                in_path = true;
                if ID_PARAMETERS.contains(&parameter.name.as_str()) {
                    parameter.schema = Some(RefOr::Ref(Ref::from_schema_name("Id")));
                }
            }
            _ => {}
        }
    }
    if in_query {
        add("400", "A query parameter is unknown, malformed or out of range (`invalid_query`); `errors` names it");
        add(
            "422",
            "A query parameter breaks a rule (`validation_failed`), such as a window that ends before it starts",
        );
    }
    if in_path {
        add("400", "An id in the path is not an id (`invalid_id`)");
        add("404", "Nothing with that id, or nothing of yours");
    }
    add("503", "The database is unavailable; try again (`database_unavailable`, with Retry-After)");
}
