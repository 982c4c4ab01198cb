"""How an option is declared once: its flag, its ini twin, its validator, its default and help.

``Option.register`` adds the command-line option (``type=`` is the validator, so a bad value
is refused while pytest parses its arguments, before any work starts) and its ini twin
(``codex_<name>`` in pytest.ini / ``[tool.pytest.ini_options]``).  ``Values`` reads an
option's value the pytest way: the command line wins, then the ini file, then the default;
it records where each value came from for the manifest.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from pytest_codex.core.errors import CodexUsageError
from pytest_codex.options.parse import Boolean, Invalid, Validator, usage_message

Kind = Literal["value", "flag", "list"]
Source = Literal["command line", "ini", "default"]


class ArgType:
    """argparse ``type=``: the validator, with the usage line as argparse's error."""

    def __init__(self, flag: str, validator: Validator) -> None:
        self.flag, self.validator = flag, validator
        self.__name__ = flag  # argparse names the type in some messages

    def __call__(self, text: str) -> Any:
        try:
            return self.validator(text)
        except Invalid as exc:
            raise argparse.ArgumentTypeError(usage_message(self.flag, text, exc)) from None


@dataclass(frozen=True)
class Option:
    flag: str  # --codex-n
    help: str
    validator: Validator | None = None  # None: a flag (store_true) or a list of strings
    default: Any = None  # the parsed default
    metavar: str | None = None
    kind: Kind = "value"
    aliases: tuple[str, ...] = ()
    shown_default: str | None = None  # how --help shows the default, when not ``default``

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def ini(self) -> str:
        return self.dest if self.dest.startswith("codex_") else f"codex_{self.dest}"

    def arg_type(self, flag: str | None = None) -> ArgType:
        """This option's validator as an argparse ``type=`` (the CLI shares it)."""
        assert self.validator is not None, f"{self.flag} takes no value"
        return ArgType(flag or self.flag, self.validator)

    def register(self, group: pytest.OptionGroup, parser: pytest.Parser) -> None:
        if self.shown_default is not None:
            shown = self.shown_default
        elif self.kind == "flag":
            shown = "off"
        elif self.kind == "list":
            shown = "none"
        else:
            shown = self.default
        help_text = f"{self.help} (default: {shown}; ini: {self.ini})"
        flags = (self.flag, *self.aliases)
        if self.kind == "flag":
            group.addoption(*flags, dest=self.dest, action="store_true", default=None, help=help_text)
            # read as text and checked by Boolean: a bad value gets the usage line naming it
            parser.addini(self.ini, self.help, type="string", default=None)
        elif self.kind == "list":
            group.addoption(*flags, dest=self.dest, action="append", default=None, metavar=self.metavar, help=help_text)
            parser.addini(self.ini, self.help, type="linelist", default=None)
        else:
            assert self.validator is not None
            group.addoption(
                *flags,
                dest=self.dest,
                default=None,
                metavar=self.metavar,
                type=ArgType(self.flag, self.validator),
                help=help_text,
            )
            parser.addini(self.ini, self.help, type="string", default=None)


class Values:
    """The options' values for one session, and where each came from."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.sources: dict[str, Source] = {}

    def given(self, option: Option) -> bool:
        """Set on the command line or in the ini file (not the default)."""
        self.get(option)
        return self.sources[option.flag] != "default"

    def get(self, option: Option) -> Any:
        value = self.config.getoption(option.dest, None)
        if value is not None:
            self.sources[option.flag] = "command line"
            return tuple(value) if option.kind == "list" else value
        raw = self.config.getini(option.ini)  # None when the ini file (and -o) do not set it
        if raw is not None:
            self.sources[option.flag] = "ini"
            if option.kind == "list":
                return tuple(str(x) for x in raw)
            validator = Boolean() if option.kind == "flag" else option.validator
            assert validator is not None
            try:
                return validator(str(raw))
            except Invalid as exc:
                raise CodexUsageError(usage_message(option.ini, raw, exc) + f" ({self._ini_source(option)})") from None
        self.sources[option.flag] = "default"
        if option.kind == "list":
            return tuple(option.default or ())
        if option.kind == "flag":
            return bool(option.default)
        return option.default

    def _ini_source(self, option: Option) -> str:
        overrides = getattr(self.config.option, "override_ini", None) or ()
        if any(str(o).split("=", 1)[0].strip() == option.ini for o in overrides):
            return f"-o {option.ini}=..."
        return f"ini option in {self.config.inipath}" if self.config.inipath else "ini option"
