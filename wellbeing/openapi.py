"""The OpenAPI 3.1 document of the token-authenticated JSON API."""

from __future__ import annotations

from typing import Any

from exposure.categories import CATEGORIES, FLAG_SOURCES, FLAG_STATES

_ERROR = {"$ref": "#/components/responses/Error"}


def _attachment_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "ticket_ref": {"type": "string"},
            "external_id": {"type": "string"},
            "filename": {"type": "string"},
            "media_kind": {"type": "string", "enum": ["image", "animation", "video"]},
            "format": {"type": "string"},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "frames": {"type": "integer"},
            "duration_seconds": {"type": ["number", "null"]},
            "has_audio": {"type": "boolean"},
            "size": {"type": "integer"},
            "sha256": {"type": "string"},
            "labels": {"type": "array", "items": {"type": "string"}},
            "flag_state": {"type": "string", "enum": list(FLAG_STATES)},
            "categories": {"type": "array", "items": {"type": "string"}},
            "severity": {"type": "integer", "minimum": 0, "maximum": 5},
            "flag_source": {"type": ["string", "null"], "enum": [*FLAG_SOURCES, None]},
            "viewer_url": {"type": "string", "format": "uri"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    }


def _metadata_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["ticket_ref", "external_id"],
        "additionalProperties": False,
        "properties": {
            "ticket_ref": {"type": "string", "minLength": 1, "maxLength": 200},
            "external_id": {"type": "string", "minLength": 1, "maxLength": 200},
            "filename": {"type": "string", "maxLength": 255},
            "labels": {"type": "array", "items": {"type": "string", "maxLength": 100}},
            "flag_state": {"type": "string", "enum": list(FLAG_STATES), "default": "unknown"},
            "categories": {"type": "array", "items": {"type": "string", "enum": list(CATEGORIES)}},
            "severity": {"type": "integer", "minimum": 0, "maximum": 5},
            "flag_source": {"type": "string", "enum": list(FLAG_SOURCES)},
            "source_url": {"type": "string", "format": "uri"},
        },
    }


def document() -> dict[str, Any]:
    """Paths here must match the api blueprint's routes (a test holds them together)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Safe-view gateway API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Attachment": _attachment_schema(), "Metadata": _metadata_schema()},
            "responses": {
                "Error": {
                    "description": "A refusal with a reason",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "error": {"type": "string"},
                                    "message": {"type": "string"},
                                },
                            }
                        }
                    },
                }
            },
        },
        "paths": {
            "/attachments": {
                "post": {
                    "summary": "Register an attachment (idempotent by ticket_ref + external_id)",
                    "description": "Scope attachments:write. Upload the bytes as multipart "
                    "(a 'file' part and a 'metadata' JSON part), or send JSON metadata with "
                    "source_url on an allow-listed https host.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file"],
                                    "properties": {
                                        "file": {"type": "string", "format": "binary"},
                                        "metadata": {"type": "string", "description": "JSON"},
                                    },
                                }
                            },
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Metadata"}
                            },
                        },
                    },
                    "responses": {
                        "201": {"description": "Registered", "content": _json_attachment()},
                        "200": {"description": "Already registered", "content": _json_attachment()},
                        "400": _ERROR,
                        "401": _ERROR,
                        "403": _ERROR,
                        "413": _ERROR,
                        "415": _ERROR,
                        "422": _ERROR,
                    },
                }
            },
            "/attachments/{attachment_id}": {
                "get": {
                    "summary": "Read an attachment's metadata (scope attachments:read)",
                    "parameters": [_id_param()],
                    "responses": {
                        "200": {"description": "The attachment", "content": _json_attachment()},
                        "401": _ERROR,
                        "403": _ERROR,
                        "404": _ERROR,
                    },
                }
            },
            "/attachments/{attachment_id}/flag": {
                "post": {
                    "summary": "Flag or unflag an attachment (scope attachments:write)",
                    "parameters": [_id_param()],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "flag_state": {"type": "string", "enum": list(FLAG_STATES)},
                                        "categories": {
                                            "type": "array",
                                            "items": {"type": "string", "enum": list(CATEGORIES)},
                                        },
                                        "severity": {"type": "integer", "minimum": 0, "maximum": 5},
                                        "flag_source": {
                                            "type": "string",
                                            "enum": list(FLAG_SOURCES),
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {"description": "Updated", "content": _json_attachment()},
                        "400": _ERROR,
                        "401": _ERROR,
                        "403": _ERROR,
                        "404": _ERROR,
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI document"}},
                }
            },
        },
    }


def _json_attachment() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/Attachment"}}}


def _id_param() -> dict[str, Any]:
    return {"name": "attachment_id", "in": "path", "required": True, "schema": {"type": "integer"}}
