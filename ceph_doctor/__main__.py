from ceph_doctor.cli.main import main

main()
