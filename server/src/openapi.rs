//! The OpenAPI description served at `/openapi.json`.

/// OpenAPI 3.0 description of the HTTP API.
pub const SPEC: &str = r##"{
  "openapi": "3.0.3",
  "info": {"title": "fieldsync relay", "version": "1"},
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "schemas": {
      "Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
      "Action": {"type": "object", "properties": {
        "reason": {"type": "string"}, "credit_override_reason": {"type": "string"},
        "expected_finish": {"type": "string", "format": "date"}, "note": {"type": "string"},
        "carrier": {"type": "string"}, "tracking": {"type": "string"},
        "amount": {"type": "string", "description": "exact decimal, e.g. 1250.50"},
        "reference": {"type": "string"}, "payment_terms": {"type": "string", "enum": ["cash", "credit"]},
        "credit_days": {"type": "integer"}, "grade": {"type": "string", "enum": ["A", "B", "C"]},
        "resolution": {"type": "string"}, "details": {"type": "object"},
        "lines": {"type": "array", "items": {"type": "string"}, "description": "split: the ids of the lines to split off"},
        "from": {"type": "string", "description": "merge: the id of the order merged into this one"},
        "owner": {"type": "string", "description": "reassign: the salesperson the customer goes to"}}}
    }
  },
  "paths": {
    "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}},
    "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}},
    "/v1/enroll": {"post": {"summary": "Trade a one-time enrollment code for device credentials",
      "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"code": {"type": "string"}, "public_key": {"type": "string", "description": "the device's ed25519 public key, 64 hex digits"}}, "required": ["code", "public_key"]}}}},
      "responses": {"200": {"description": "device_id, device_token, order_prefix, user, role, region"},
                    "400": {"description": "no or a bad public key", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "401": {"description": "bad, expired or used code", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
    "/v1/device-key": {"post": {"summary": "Register the signing key of a device enrolled before changes were signed (once)", "security": [{"bearer": []}],
      "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"public_key": {"type": "string"}}, "required": ["public_key"]}}}},
      "responses": {"200": {"description": "registered"}, "401": {"description": "bad device token"},
                    "403": {"description": "the device already has another key: enroll again", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
    "/v1/sync": {"post": {"summary": "Sync a device (binary protocol, see core::sync::wire)", "security": [{"bearer": []}],
      "requestBody": {"content": {"application/octet-stream": {}}},
      "responses": {"200": {"description": "sync answer"}, "400": {"description": "malformed request"},
                    "401": {"description": "no, bad or revoked device token"}, "413": {"description": "too large"}}}},
    "/v1/orders/{id}": {"get": {"summary": "An order", "security": [{"bearer": []}],
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "responses": {"200": {"description": "the order"}, "404": {"description": "unknown"}}}},
    "/v1/orders/{id}/{action}": {"post": {"summary": "approve, reject, confirm, start-production, production, in-stock, ship, deliver, payments, settle, archive, cancel, details, split (lines: the ids to split off, into an order numbered HQ-<day>-<n>), merge (from: the order merged into this one)",
      "security": [{"bearer": []}],
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                     {"name": "action", "in": "path", "required": true, "schema": {"type": "string"}}],
      "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Action"}}}},
      "responses": {"200": {"description": "the order after the action"}, "403": {"description": "not your role or region"},
                    "409": {"description": "not possible in the order's status, or credit hold"}}}},
    "/v1/customers/{id}/{action}": {"post": {"summary": "credit, receivables, grade, activate, reassign (owner: the salesperson the customer and its orders, visits and complaints go to; admin)", "security": [{"bearer": []}],
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                     {"name": "action", "in": "path", "required": true, "schema": {"type": "string"}}],
      "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Action"}}}},
      "responses": {"200": {"description": "the customer's credit position"}}}},
    "/v1/complaints/{id}/resolve": {"post": {"summary": "Resolve a complaint", "security": [{"bearer": []}],
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Action"}}}},
      "responses": {"200": {"description": "status"}}}},
    "/v1/reports/{name}": {"get": {"summary": "sales-by-salesperson, sales-by-region, sales-by-product, sales-by-month, visit-kpis, daily-reports, production, receivables, changed-after-approval",
      "security": [{"bearer": []}],
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
                     {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"]}}],
      "responses": {"200": {"description": "rows"}}}}
  }
}"##;
