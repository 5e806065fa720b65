// The OpenAPI 3.0.3 document of `bertrank serve`, served at GET /openapi.json. Keep it in step
// with service.cpp: tests/test_service.cpp checks that it names every route of service_routes()
// and that responses match it; schemathesis runs against it. Optional fields are nullable
// because the service reads null as "the default", as TEI does.
#include "server/service.h"

namespace bertrank::server {

namespace {
const char* const kOpenApi = R"JSON({
  "openapi": "3.0.3",
  "info": {
    "title": "bertrank serve",
    "version": "0.5.0",
    "description": "Embeddings, reranking and search on CPUs. TEI-compatible (/embed, /rerank, /tokenize, /health, /info), OpenAI-compatible (/v1/embeddings), Cohere/Jina-compatible (/v1/rerank). Every error is {\"error\", \"error_type\"}."
  },
  "security": [{"bearerAuth": []}],
  "paths": {
    "/embed": {
      "post": {
        "summary": "TEI embed: one L2-normalised (by default) vector per input",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object", "required": ["inputs"], "additionalProperties": true,
          "properties": {
            "inputs": {"$ref": "#/components/schemas/Inputs"},
            "normalize": {"type": "boolean", "nullable": true, "default": true},
            "truncate": {"type": "boolean", "nullable": true, "default": false},
            "truncation_direction": {"type": "string", "nullable": true, "enum": ["Right", "right", null], "description": "only Right (TEI's Left is refused: 422)"},
            "prompt_name": {"type": "string", "nullable": true, "enum": [null], "description": "the model's prompt names (no model has prompts yet: any name is 422)"}
          }}}}},
        "responses": {
          "200": {"description": "one vector per input", "content": {"application/json": {"schema": {
            "type": "array", "items": {"type": "array", "items": {"type": "number"}}}}}},
          "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"}, "422": {"$ref": "#/components/responses/Error"},
          "424": {"$ref": "#/components/responses/Error"}, "429": {"$ref": "#/components/responses/Error"},
          "500": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/rerank": {
      "post": {
        "summary": "TEI rerank: texts scored against the query, best first (sigmoid unless raw_scores)",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object", "required": ["query", "texts"], "additionalProperties": true,
          "properties": {
            "query": {"type": "string"},
            "texts": {"type": "array", "minItems": 1, "maxItems": 32, "items": {"type": "string"}},
            "raw_scores": {"type": "boolean", "nullable": true, "default": false},
            "return_text": {"type": "boolean", "nullable": true, "default": false},
            "truncate": {"type": "boolean", "nullable": true, "default": false}
          }}}}},
        "responses": {
          "200": {"description": "ranked texts", "content": {"application/json": {"schema": {
            "type": "array", "items": {"type": "object", "required": ["index", "score"], "properties": {
              "index": {"type": "integer", "minimum": 0}, "score": {"type": "number"}, "text": {"type": "string"}}}}}}},
          "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"}, "422": {"$ref": "#/components/responses/Error"},
          "424": {"$ref": "#/components/responses/Error"}, "429": {"$ref": "#/components/responses/Error"},
          "500": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/tokenize": {
      "post": {
        "summary": "TEI tokenize: the word pieces of each input (start/stop are byte offsets; null for special tokens)",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object", "required": ["inputs"], "additionalProperties": true,
          "properties": {
            "inputs": {"$ref": "#/components/schemas/Inputs"},
            "add_special_tokens": {"type": "boolean", "nullable": true, "default": true}
          }}}}},
        "responses": {
          "200": {"description": "tokens per input", "content": {"application/json": {"schema": {
            "type": "array", "items": {"type": "array", "items": {"type": "object",
              "required": ["id", "text", "special", "start", "stop"], "properties": {
                "id": {"type": "integer"}, "text": {"type": "string"}, "special": {"type": "boolean"},
                "start": {"type": "integer", "nullable": true}, "stop": {"type": "integer", "nullable": true}}}}}}}},
          "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"}, "422": {"$ref": "#/components/responses/Error"},
          "424": {"$ref": "#/components/responses/Error"}, "500": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/health": {
      "get": {
        "summary": "liveness; needs no API key",
        "security": [],
        "responses": {
          "200": {"description": "serving", "content": {"application/json": {"schema": {
            "type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}}}}}
        }
      }
    },
    "/info": {
      "get": {
        "summary": "models, instruction set, threads and limits",
        "responses": {
          "200": {"description": "what is served", "content": {"application/json": {"schema": {
            "type": "object", "required": ["model_id", "models", "isa", "threads", "limits", "version"],
            "properties": {
              "model_id": {"type": "string"},
              "models": {"type": "object", "required": ["encoder", "reranker"], "properties": {
                "encoder": {"$ref": "#/components/schemas/ModelInfo"},
                "reranker": {"$ref": "#/components/schemas/ModelInfo"}}},
              "isa": {"type": "string"},
              "threads": {"type": "integer"},
              "limits": {"type": "object", "required": ["max_client_batch_size", "max_batch_tokens",
                  "max_concurrent_requests", "max_input_length", "max_search_k", "payload_limit"], "properties": {
                "max_client_batch_size": {"type": "integer"}, "max_batch_tokens": {"type": "integer"},
                "max_concurrent_requests": {"type": "integer"}, "max_input_length": {"type": "integer"},
                "max_search_k": {"type": "integer"}, "payload_limit": {"type": "integer"}}},
              "documents": {"type": "integer", "nullable": true},
              "version": {"type": "string"}
            }}}}},
          "401": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/embeddings": {
      "post": {
        "summary": "OpenAI embeddings (inputs over the model's length are truncated)",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object", "required": ["input"], "additionalProperties": true,
          "properties": {
            "input": {"$ref": "#/components/schemas/Inputs"},
            "model": {"type": "string", "nullable": true},
            "encoding_format": {"type": "string", "nullable": true, "enum": ["float", "base64", null], "default": "float"},
            "dimensions": {"type": "integer", "nullable": true, "minimum": 1, "maximum": 384, "description": "at most the model's dim"},
            "user": {"type": "string", "nullable": true}
          }}}}},
        "responses": {
          "200": {"description": "embeddings", "content": {"application/json": {"schema": {
            "type": "object", "required": ["object", "data", "model", "usage"], "properties": {
              "object": {"type": "string", "enum": ["list"]},
              "data": {"type": "array", "items": {"type": "object", "required": ["object", "index", "embedding"],
                "properties": {
                  "object": {"type": "string", "enum": ["embedding"]},
                  "index": {"type": "integer", "minimum": 0},
                  "embedding": {"oneOf": [{"type": "array", "items": {"type": "number"}},
                                          {"type": "string", "format": "byte"}]}}}},
              "model": {"type": "string"},
              "usage": {"$ref": "#/components/schemas/Usage"}}}}}},
          "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"}, "422": {"$ref": "#/components/responses/Error"},
          "424": {"$ref": "#/components/responses/Error"}, "429": {"$ref": "#/components/responses/Error"},
          "500": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/rerank": {
      "post": {
        "summary": "Cohere / Jina rerank; relevance_score is the sigmoid of the cross-encoder's logit (0..1)",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object", "required": ["query", "documents"], "additionalProperties": true,
          "properties": {
            "query": {"type": "string"},
            "documents": {"type": "array", "minItems": 1, "maxItems": 32, "items": {"oneOf": [
              {"type": "string"},
              {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}]}},
            "top_n": {"type": "integer", "nullable": true, "minimum": 1, "maximum": 2147483648},
            "return_documents": {"type": "boolean", "nullable": true, "default": false},
            "model": {"type": "string", "nullable": true}
          }}}}},
        "responses": {
          "200": {"description": "ranked documents", "content": {"application/json": {"schema": {
            "type": "object", "required": ["results", "model", "usage"], "properties": {
              "results": {"type": "array", "items": {"type": "object", "required": ["index", "relevance_score"],
                "properties": {
                  "index": {"type": "integer", "minimum": 0},
                  "relevance_score": {"type": "number", "minimum": 0, "maximum": 1},
                  "document": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}}}},
              "model": {"type": "string"},
              "usage": {"$ref": "#/components/schemas/Usage"}}}}}},
          "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"}, "422": {"$ref": "#/components/responses/Error"},
          "424": {"$ref": "#/components/responses/Error"}, "429": {"$ref": "#/components/responses/Error"},
          "500": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/search": {
      "post": {
        "summary": "search the loaded index: first stage (dense, bm25 or hybrid), then the cross-encoder",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object", "additionalProperties": true,
          "oneOf": [{"required": ["query"]}, {"required": ["queries"]}],
          "properties": {
            "query": {"type": "string"},
            "queries": {"type": "array", "minItems": 1, "maxItems": 32, "items": {"type": "string"}},
            "k": {"type": "integer", "nullable": true, "minimum": 1, "maximum": 1000, "default": 10},
            "mode": {"type": "string", "nullable": true, "enum": ["dense", "bm25", "hybrid", null], "default": "dense"},
            "rerank": {"type": "boolean", "nullable": true},
            "candidates": {"type": "integer", "nullable": true, "minimum": 1, "maximum": 1000},
            "return_text": {"type": "boolean", "nullable": true, "default": false},
            "timings": {"type": "boolean", "nullable": true, "default": false}
          }}}}},
        "responses": {
          "200": {"description": "hits per query, best first", "content": {"application/json": {"schema": {
            "type": "object", "required": ["results"], "properties": {
              "results": {"type": "array", "items": {"type": "array", "items": {"type": "object",
                "required": ["id", "score", "first_stage_score", "reranked"], "properties": {
                  "id": {"type": "integer", "minimum": 0}, "score": {"type": "number"},
                  "first_stage_score": {"type": "number"}, "reranked": {"type": "boolean"},
                  "text": {"type": "string"}, "meta": {"type": "object"}}}}},
              "timings": {"type": "object", "required": ["embed_ms", "search_ms", "rerank_ms"], "properties": {
                "embed_ms": {"type": "number"}, "search_ms": {"type": "number"}, "rerank_ms": {"type": "number"}}}}}}}},
          "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"}, "422": {"$ref": "#/components/responses/Error"},
          "424": {"$ref": "#/components/responses/Error"}, "429": {"$ref": "#/components/responses/Error"},
          "500": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/documents": {
      "post": {
        "summary": "add documents to the index; answered once the write is durable",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object", "required": ["documents"], "additionalProperties": true,
          "properties": {
            "documents": {"type": "array", "minItems": 1, "maxItems": 32, "items": {"type": "object",
              "required": ["text"], "properties": {
                "id": {"type": "integer", "nullable": true, "minimum": 0, "maximum": 9223372036854775807, "description": "absent: the next free id"},
                "text": {"type": "string"},
                "meta": {"type": "object", "nullable": true}}}}
          }}}}},
        "responses": {
          "200": {"description": "the ids added", "content": {"application/json": {"schema": {
            "type": "object", "required": ["ids"], "properties": {
              "ids": {"type": "array", "items": {"type": "integer", "minimum": 0}}}}}}},
          "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"}, "422": {"$ref": "#/components/responses/Error"},
          "424": {"$ref": "#/components/responses/Error"}, "429": {"$ref": "#/components/responses/Error"},
          "500": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/documents/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true,
                      "schema": {"type": "integer", "minimum": 0, "maximum": 9223372036854775807}}],
      "get": {
        "summary": "one document's text and metadata",
        "responses": {
          "200": {"description": "the document", "content": {"application/json": {"schema": {
            "type": "object", "required": ["id", "text", "meta"], "properties": {
              "id": {"type": "integer"}, "text": {"type": "string"}, "meta": {"type": "object", "nullable": true}}}}}},
          "401": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"},
          "422": {"$ref": "#/components/responses/Error"}, "424": {"$ref": "#/components/responses/Error"},
          "500": {"$ref": "#/components/responses/Error"}
        }
      },
      "delete": {
        "summary": "remove a document; answered once the write is durable",
        "responses": {
          "200": {"description": "how many were removed", "content": {"application/json": {"schema": {
            "type": "object", "required": ["removed"], "properties": {"removed": {"type": "integer", "enum": [0, 1]}}}}}},
          "401": {"$ref": "#/components/responses/Error"}, "422": {"$ref": "#/components/responses/Error"},
          "424": {"$ref": "#/components/responses/Error"}, "429": {"$ref": "#/components/responses/Error"},
          "500": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/metrics": {
      "get": {
        "summary": "Prometheus text exposition format 0.0.4",
        "responses": {
          "200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
          "401": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/openapi.json": {
      "get": {
        "summary": "this document",
        "responses": {
          "200": {"description": "OpenAPI 3.0.3", "content": {"application/json": {"schema": {"type": "object"}}}},
          "401": {"$ref": "#/components/responses/Error"}
        }
      }
    }
  },
  "components": {
    "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
      "description": "needed on every route but GET /health when the server runs with --api-key"}},
    "responses": {
      "Error": {"description": "a failure", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "schemas": {
      "Error": {"type": "object", "required": ["error", "error_type"], "properties": {
        "error": {"type": "string"},
        "error_type": {"type": "string", "enum": ["Validation", "Tokenizer", "Unauthorized", "NotFound", "Conflict",
                                                  "Unavailable", "Overloaded", "Backend"]}}},
      "Inputs": {"oneOf": [{"type": "string"},
                           {"type": "array", "minItems": 1, "maxItems": 32, "items": {"type": "string"}}]},
      "Usage": {"type": "object", "required": ["prompt_tokens", "total_tokens"], "properties": {
        "prompt_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}}},
      "ModelInfo": {"type": "object", "nullable": true,
        "required": ["name", "fingerprint", "dim", "max_input_length", "precision", "layers"], "properties": {
          "name": {"type": "string"}, "fingerprint": {"type": "string"}, "dim": {"type": "integer"},
          "max_input_length": {"type": "integer"}, "precision": {"type": "string", "enum": ["fp32", "int8", "bf16"]},
          "layers": {"type": "integer"}}}
    }
  }
})JSON";
}  // namespace

const std::string& service_openapi_document() {
  static const std::string doc(kOpenApi);
  return doc;
}

}  // namespace bertrank::server
