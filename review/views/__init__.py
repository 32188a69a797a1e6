"""The reviewer's workspace, and the pages around review: feedback, the Gold tab, gold records."""
