"""The Streamlit app (`python cli.py app`): overview, explore, predict, experiments."""
