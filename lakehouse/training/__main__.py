"""``python -m lakehouse.training --release ... --model ... --output ...`` (same options as ``lakehouse train``)."""

from lakehouse.training.cli import main

if __name__ == "__main__":
    main()
