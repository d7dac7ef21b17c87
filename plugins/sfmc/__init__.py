"""What the two Salesforce Marketing Cloud plugins share: OAuth2 tokens, CST clocks, 429s.

Not a plugin itself: ``sfmc_transactional`` and ``sfmc_mobileconnect`` are.
"""
