from natster.cli import main

main()
