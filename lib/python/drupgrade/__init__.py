"""drupgrade: the upgrade toolkit for the drp disaster-recovery product."""

__version__ = "0.1.0"
