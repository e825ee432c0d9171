"""Daily fee settlements, monthly royalties and Merkle commitments (settlement.md)."""
