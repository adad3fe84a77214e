"""The registered recipes, trained weights and their cards, versions, and inference."""
