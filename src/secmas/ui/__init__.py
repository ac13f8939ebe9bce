"""The web dashboard of `secmas ui`: a FastAPI app over the run folders (`runs/<id>/`)
and the live run of `secmas demo --ui`, and one static page that draws them."""
