"""MLLMU-Bench itself: vocabulary, data reader, prompts, answer extraction, metrics, records and file formats.

The ground floor of the house: every other package imports it, and it imports
nothing of ours. Nothing here loads a model or touches the network at import.
"""
