"""Review campaigns (đợt thẩm định, issue 20 §A)."""
