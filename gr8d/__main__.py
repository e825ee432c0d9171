from gr8d.cli import main

main()
