"""drupgrade: the upgrade toolkit of a clustered product (products/<name>/; the reference product is
described in docs/product.md)."""

__version__ = "0.1.0"
