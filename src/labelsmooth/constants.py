"""Indices shared by the data features and the smoothing (defined here once)."""

# The label of sub-words and padding that no loss or metric counts (torch's cross-entropy default).
IGNORE_INDEX = -100
# The [CLS] position: the pointer target of an unanswerable question, or of a window without the answer.
CLS_INDEX = 0
