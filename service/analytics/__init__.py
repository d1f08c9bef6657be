"""Analytics: a brand's figures per period, and the questions its knowledge does not answer."""
