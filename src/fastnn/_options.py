"""Configurable: named options with defaults and checks, shared by optimizers and schedules.

A subclass lists its options once, in ``OPTIONS`` (name -> (default, check)),
and the table gives it a checked constructor, a signature, a repr, equality,
``to_dict`` and construction from a name or a dict (``build``).
"""
import inspect
import math
import numbers

_REQUIRED = inspect.Parameter.empty


class Configurable:
    #: The name users pass as a string ("adam", "cosine"); the kernels' name where they share it.
    name = None
    #: option -> (default, check); a default of REQUIRED makes the option mandatory.
    OPTIONS = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.__signature__ = inspect.Signature([
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
            for name, (default, _) in cls.OPTIONS.items()])

    def __init__(self, **options):
        kind = type(self).__name__
        for name in options:
            if name not in self.OPTIONS:
                raise ValueError(f"{kind} has no option {name!r}; its options are "
                                 f"{', '.join(self.OPTIONS) or 'none'}")
        values = {}
        for name, (default, check) in self.OPTIONS.items():
            value = options.get(name, default)
            if value is _REQUIRED:
                raise ValueError(f"{kind} needs the option {name!r}")
            try:
                values[name] = check(value, name)
            except ValueError as error:
                raise ValueError(f"{kind}: {error}") from None
        self._options = values
        self._check_together()

    def _check_together(self):
        """Checks that involve several options (subclasses override)."""

    def __getattr__(self, name):
        options = self.__dict__.get("_options", {})
        if name in options:
            return options[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def options(self):
        """The options, as a dict (a copy)."""
        return dict(self._options)

    def replace(self, **changes):
        """A copy with some options changed (checked like the constructor's)."""
        return type(self)(**{**self._options, **changes})

    def to_dict(self):
        """{"name": ..., **options}: what ``build`` takes back (JSON-friendly)."""
        return {"name": self.name, **{k: list(v) if isinstance(v, tuple) else v
                                      for k, v in self._options.items()}}

    def __eq__(self, other):
        return type(self) is type(other) and self._options == other._options

    def __hash__(self):
        return hash((type(self), tuple(self._options.items())))

    def __repr__(self):
        shown = [f"{k}={v!r}" for k, v in self._options.items()
                 if v != self.OPTIONS[k][0]]
        return f"{type(self).__name__}({', '.join(shown)})"

    def __getstate__(self):
        return self._options

    def __setstate__(self, options):
        self._options = options


REQUIRED = _REQUIRED


def build(spec, table, what, **overrides):
    """An instance from a name, a dict {"name": ..., **options} or an instance of the table's
    classes; `overrides` (not None) replace options."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if isinstance(spec, Configurable) and type(spec) in table.values():
        return spec.replace(**overrides) if overrides else spec
    if isinstance(spec, dict):
        options = dict(spec)
        name = options.pop("name", None)
    else:
        name, options = spec, {}
    if not isinstance(name, str) or name not in table:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, table))}, an instance "
                         f"of their classes or a dict with a 'name'; got {spec!r}")
    return table[name](**{**options, **overrides})


# -- checks: (value, name) -> the value, or a ValueError naming it ----------------------

def _real(value, name):
    if type(value) is float:                # the common case, without the ABC checks
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    try:
        value = float(value)
    except OverflowError:                   # an int beyond float's range, 10**400
        value = math.inf
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def positive(value, name):
    value = _real(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def non_negative(value, name):
    value = _real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def fraction(value, name):
    """In [0, 1)."""
    value = _real(value, name)
    if not 0 <= value < 1:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    return value


def unit_interval(value, name):
    """In [0, 1]."""
    value = _real(value, name)
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return value


def flag(value, name):
    if not isinstance(value, bool) and type(value).__name__ != "bool_":
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def count(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0 \
            or value > 2**62:
        raise ValueError(f"{name} must be an integer in [0, 2**62], got {value!r}")
    return int(value)


def positive_count(value, name):
    value = count(value, name)
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def optional(check):
    """None, or what `check` accepts."""
    return lambda value, name: None if value is None else check(value, name)


def pair(check):
    """A pair (a, b), each checked by `check`."""
    def checked(value, name):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
            raise ValueError(f"{name} must be a pair of numbers, got {value!r}")
        return (check(value[0], f"{name}[0]"), check(value[1], f"{name}[1]"))
    return checked
