# Aliases for ./dev, which does the work (and needs no make).
.PHONY: demo test setup
demo:
	./dev demo
test:
	./dev test
setup:
	./dev setup
