from ckptfix._cli import main

main()
