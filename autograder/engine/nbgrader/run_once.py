"""Work that nbgrader repeats for every notebook (or every cell) and the grading command does once per run.

nbgrader checks its cell-metadata schema against the JSON Schema meta-schema on every ``jsonschema.validate`` call,
that is for every cell of every notebook, several times per notebook (CheckCellMetadata runs twice). Within
:func:`validators_built_once` the check and the validator are built once per schema; each cell is still validated,
and a failure raises the same error (jsonschema's best match). nbformat's own validation (nbconvert runs it after
every preprocessor) keeps its validators, found without being looked up again. Plain ``nbgrader autograde`` is not
affected.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import jsonschema
from jsonschema import exceptions, validators

_validators: dict[str, Any] = {}
_lock = threading.Lock()


def validate(instance: Any, schema: dict, cls: Any = None, *args: Any, **kwargs: Any) -> None:
    """``jsonschema.validate``, with the schema checked and its validator built once per distinct schema."""
    if cls is not None or args or kwargs:
        jsonschema.validate(instance, schema, cls, *args, **kwargs)
        return
    key = json.dumps(schema, sort_keys=True)
    validator = _validators.get(key)
    if validator is None:
        with _lock:
            validator_class = validators.validator_for(schema)
            validator_class.check_schema(schema)
            validator = _validators[key] = validator_class(schema)
    error = exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def _remembered(get_validator: Any) -> Any:
    """nbformat's ``get_validator``, answered from a table once asked: it re-imports the format module and re-reads
    the environment on each of the ~40 validations of every notebook (the validator it returns is already cached)."""
    answers: dict[tuple, Any] = {}

    def remembered(version: Any = None, version_minor: Any = None, relax_add_props: bool = False,
                   name: Any = None) -> Any:
        key = (version, version_minor, relax_add_props, name, os.environ.get("NBFORMAT_VALIDATOR"))
        if key not in answers:
            answers[key] = get_validator(version, version_minor, relax_add_props=relax_add_props, name=name)
        return answers[key]

    return remembered


@contextlib.contextmanager
def validators_built_once() -> Iterator[None]:
    """Within this block, nbgrader's metadata validation reuses one validator per schema, and nbformat's notebook
    validation finds its validator without looking it up again."""
    from nbformat import validator as nbformat_validator
    from nbgrader.nbgraderformat import common

    original = common.jsonschema
    original_get_validator = nbformat_validator.get_validator
    common.jsonschema = SimpleNamespace(validate=validate, ValidationError=jsonschema.ValidationError)
    nbformat_validator.get_validator = _remembered(original_get_validator)
    try:
        yield
    finally:
        common.jsonschema = original
        nbformat_validator.get_validator = original_get_validator
