"""dpcondense: differentially private dataset condensation for classical clinical models."""

__version__ = "0.1.0"
