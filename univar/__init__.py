"""UniVaR Studio core: elicit, store, embed, train, evaluate, project and export LLM value maps.

Nothing here imports streamlit; heavy libraries load lazily inside the functions that use them.
"""

__version__ = "0.1.0"
