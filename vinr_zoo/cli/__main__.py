from vinr_zoo.cli import main

main()
