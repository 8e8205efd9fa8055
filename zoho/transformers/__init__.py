"""Zoho -> ERP transformers, one pure module per entity."""
