"""The data model, its column types and the write gate, and the migrations."""
