//! Size-capped container logs with follow, tail and since (being written).
