"""The one exception type for bad input. The CLI prints it as one line and exits 2; pages show
it with st.error. Its message names what is wrong and never holds a secret."""


class UserError(ValueError):
    """Bad input or an unusable setting; nothing was written."""
