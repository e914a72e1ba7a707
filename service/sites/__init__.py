"""Sites: finding, creating and changing one; where its webhook may point."""
