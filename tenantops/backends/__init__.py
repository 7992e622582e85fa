"""The platform behind one :class:`~tenantops.backends.base.Backend` Protocol, one package per API flavour.

What both flavours share sits here: the Protocol (``base``), pacing to a quota
(``pacing``), the retry policy (``retry``) and the "no answer" errors (``no_answer``).
"""
